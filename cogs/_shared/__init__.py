"""What every cog shares: the command context, private replies in chunks, the generic failure
text, guarded buttons and forms, and how a delivery count reads.

Not an extension (the leading underscore keeps ``discover_cogs`` away from it).
"""
