"""What the Discord end-to-end tests set up on the sandbox before a command (a prompt in a given
state, an exercise at a given stage), through the services the commands call."""
