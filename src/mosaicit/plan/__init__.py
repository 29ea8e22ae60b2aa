"""Plan a mosaic: the strategies, drawing a style, making a plan, and composing groups under the budget.

Import from the modules: :mod:`~mosaicit.plan.planner` (``draw_style``, ``make_plan``),
:mod:`~mosaicit.plan.strategies` (the registry) and :mod:`~mosaicit.plan.compose` (the composer),
which stands above the budget. The plan types are on the ground floor, :mod:`mosaicit.types.plan`.
"""
