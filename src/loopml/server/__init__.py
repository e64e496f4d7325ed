"""``loopml server``: the team server. A REST API (FastAPI) over everything the Store holds, the blobs of the
artifact store streamed through it, the web UI, and the tokens and roles that decide who may change what.
"""
