"""Who is calling and what they may do, decided from the bot's own roster, not chat roles."""
