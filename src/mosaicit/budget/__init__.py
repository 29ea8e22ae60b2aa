"""Count tokens: the tokenizer backends, word and pre-token counting, the count cache, and the budget
that composes a mosaic's count from its parts and owns the ``max_length`` limit."""
