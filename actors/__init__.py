"""The pykka actors: the supervisor, the DB writer, one worker actor per pipeline stage, and what they share
(context, base worker, ticker, messages). Wired in annexd/daemon.py."""
