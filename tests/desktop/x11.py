"""Just enough Xlib (through ctypes, no extra package) for the desktop tests to see the app's
windows as the X server does: which top-level windows exist, whether they are mapped, and how to
ask one to close the way a window manager's close button does (WM_DELETE_WINDOW)."""

import ctypes
import ctypes.util

_lib = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")

Window = ctypes.c_ulong
Atom = ctypes.c_ulong
IS_VIEWABLE = 2
CLIENT_MESSAGE = 33


class XWindowAttributes(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
        ("border_width", ctypes.c_int), ("depth", ctypes.c_int), ("visual", ctypes.c_void_p),
        ("root", Window), ("c_class", ctypes.c_int), ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong), ("map_installed", ctypes.c_int),
        ("map_state", ctypes.c_int), ("all_event_masks", ctypes.c_long),
        ("your_event_mask", ctypes.c_long), ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int), ("screen", ctypes.c_void_p),
    ]


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p), ("window", Window), ("message_type", Atom),
        ("format", ctypes.c_int), ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]


_lib.XOpenDisplay.restype = ctypes.c_void_p
_lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
_lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
_lib.XDefaultRootWindow.restype = Window
_lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
_lib.XQueryTree.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
                            ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint)]
_lib.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
_lib.XFree.argtypes = [ctypes.c_void_p]
_lib.XGetWindowAttributes.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(XWindowAttributes)]
_lib.XInternAtom.restype = Atom
_lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
_lib.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
_lib.XFlush.argtypes = [ctypes.c_void_p]


class Display:
    def __init__(self, name: str):
        self.d = _lib.XOpenDisplay(name.encode())
        if not self.d:
            raise RuntimeError(f"cannot open X display {name}")

    def close(self):
        _lib.XCloseDisplay(self.d)

    def _children(self, window):
        root, parent = Window(), Window()
        children, count = ctypes.POINTER(Window)(), ctypes.c_uint()
        if not _lib.XQueryTree(self.d, window, ctypes.byref(root), ctypes.byref(parent),
                               ctypes.byref(children), ctypes.byref(count)):
            return []
        found = [children[i] for i in range(count.value)]
        if children:
            _lib.XFree(children)
        return found

    def _name(self, window):
        name = ctypes.c_char_p()
        if _lib.XFetchName(self.d, window, ctypes.byref(name)) and name.value is not None:
            text = name.value.decode(errors="replace")
            _lib.XFree(name)
            return text
        return None

    def windows(self, title: str):
        """Top-level windows (and their children, as toolkits nest them) named `title`:
        a list of (window, viewable)."""
        out, todo = [], self._children(_lib.XDefaultRootWindow(self.d))
        while todo:
            w = todo.pop()
            if self._name(w) == title:
                attrs = XWindowAttributes()
                _lib.XGetWindowAttributes(self.d, w, ctypes.byref(attrs))
                out.append((w, attrs.map_state == IS_VIEWABLE))
            todo.extend(self._children(w))
        return out

    def visible(self, title: str) -> bool:
        return any(viewable for _, viewable in self.windows(title))

    def request_close(self, title: str) -> int:
        """Sends WM_DELETE_WINDOW to every window named `title`, as a window manager's close
        button does; returns how many were asked."""
        protocols = _lib.XInternAtom(self.d, b"WM_PROTOCOLS", 0)
        delete = _lib.XInternAtom(self.d, b"WM_DELETE_WINDOW", 0)
        asked = 0
        for w, viewable in self.windows(title):
            if not viewable:
                continue
            event = XEvent()
            event.xclient.type = CLIENT_MESSAGE
            event.xclient.window = w
            event.xclient.message_type = protocols
            event.xclient.format = 32
            event.xclient.data[0] = delete
            event.xclient.data[1] = 0  # CurrentTime
            _lib.XSendEvent(self.d, w, 0, 0, ctypes.byref(event))
            asked += 1
        _lib.XFlush(self.d)
        return asked
