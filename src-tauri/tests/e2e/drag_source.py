#!/usr/bin/env python3
"""A GTK window that offers files as a drag source (text/uri-list), for the
drag-and-drop end-to-end test. Usage: drag_source.py --x X --y Y FILE...
Prints "ready" once the window is on screen."""
import argparse
import pathlib

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", type=int, default=0)
    ap.add_argument("--y", type=int, default=0)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    uris = [pathlib.Path(f).resolve().as_uri() for f in args.files]

    win = Gtk.Window(title="drag source")
    win.set_default_size(250, 150)
    win.move(args.x, args.y)
    box = Gtk.EventBox()
    box.add(Gtk.Label(label=f"drag {len(uris)} files"))
    box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
    box.drag_source_add_uri_targets()
    box.connect("drag-data-get", lambda _w, _c, data, _i, _t: data.set_uris(uris))
    win.add(box)
    win.connect("destroy", Gtk.main_quit)
    win.show_all()

    def ready():
        print("ready", flush=True)
        return False

    # Announce once the window has been drawn, so the pointer finds it.
    GLib.timeout_add(500, ready)
    Gtk.main()


if __name__ == "__main__":
    main()
