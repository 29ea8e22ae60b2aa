"""What a strategy's rules do to the answers (``Strategy.effects``), as the tables check it."""

#: Effect of a rule that leaves some instructions unanswered.
SKIPS = "skips"
#: Effect of a rule that answers in another order than the instructions are shown.
REORDERS = "reorders"
#: Effect of a mosaic drawn without numbering: no instruction shows a number.
UNNUMBERED = "unnumbered"
