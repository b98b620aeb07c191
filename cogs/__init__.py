"""discord.py adapters, one per capability: parse, check role, call one service, render."""
