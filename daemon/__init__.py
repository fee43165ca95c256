"""The live wing: the OSC daemon that matches a synth beside a DAW (``synthmatch daemon``).

OSC server and commands, the match session, transports (MIDI CC / NRPN, OSC), audio in, the live rig, the live
view and the live instrument. It imports the core (:mod:`synthmatch`), never torch or :mod:`synthmatch.training`.
The daemon is wired together in one place, :func:`synthmatch.daemon.run.run_daemon`.
"""
