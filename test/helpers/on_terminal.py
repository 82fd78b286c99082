"""Runs a command on a pseudo-terminal, answers one prompt, prints the transcript.

usage: on_terminal.py PROMPT ANSWER -- COMMAND...
The answer is typed (followed by Enter) once PROMPT has appeared on the
terminal; everything the terminal showed is printed, and the exit status is
the command's. Gives up after 20 seconds.
"""
import os, pty, select, sys, time

prompt, answer = sys.argv[1].encode(), sys.argv[2].encode()
argv = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen, answered, deadline = b"", False, time.time() + 20
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    if not answered and prompt in seen:
        time.sleep(0.2)  # the prompt is written before raw mode ends; type like a person
        os.write(fd, answer + b"\r")
        answered = True
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
