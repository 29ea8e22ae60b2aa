"""Render a plan: its layout into text (a pure function) and the chat templates that frame it."""
