"""Runs the localstripe Stripe emulator on loopback only, keeping its state in a file of our choosing.

localstripe's own entry point listens on every interface and keeps its state in /tmp/localstripe.pickle,
which two stacks on one machine would share. This wrapper serves the same application on 127.0.0.1 and
points the store at the stack's data directory (or keeps it in memory when no path is given).
"""
import argparse
import logging
import os
import pickle
import signal

from aiohttp import web
from localstripe import resources, server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", help="file that keeps the emulator's data across restarts")
    args = parser.parse_args()
    # A parent may have blocked these signals, and a child inherits the mask: then the emulator would ignore the
    # SIGTERM that stops it. Unblocked, the server's own handlers shut it down cleanly.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    def load(store):
        if args.state and os.path.exists(args.state):
            with open(args.state, "rb") as f:
                store.clear()
                store.update(pickle.load(f))

    def dump(store):
        if args.state:
            temporary = args.state + ".tmp"
            with open(temporary, "wb") as f:
                pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, args.state)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    resources.store.try_load_from_disk()

    logging.basicConfig(level=logging.INFO)
    web.run_app(server.app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
