"""Steps of ``cohortbot demo``, played in file-name order.

Each module defines ``async def play(sandbox, transcript)``: it acts as tutors and students
through the local server's scripting API, moves the sandbox clock, and tells the transcript
what people saw.
"""
