"""A small client of Chromium's DevTools protocol: starts headless
Chromium, drives one page, and clicks and types as a person would (mouse
events at the element's centre, so a hidden or covered button cannot be
clicked). Needs Debian's python3-websocket."""

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, width=1400, height=900):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            raise BrowserError("chromium is not installed (Debian package chromium)")
        self.profile = tempfile.mkdtemp(prefix="sourced-chromium-")
        args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage",
                "--remote-debugging-port=0", "--remote-allow-origins=*",
                "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height), "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        port = None
        err = []
        while port is None:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BrowserError("chromium did not start: " + "".join(err[-10:]))
                continue
            err.append(line)
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
        self.port = port
        # Keep reading stderr so chromium never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port))
        page = [t for t in targets if t.get("type") == "page"][0]
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.console = []
        self.exceptions = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    # ---- Protocol -------------------------------------------------------

    def _event(self, msg):
        method = msg.get("method")
        params = msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append((params.get("type"), text))
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.exceptions.append(d.get("exception", {}).get("description") or d.get("text"))
        else:
            self.events.append(msg)

    def send(self, method, params=None, timeout=60):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def pump(self):
        """Reads the events that arrived (console messages, exceptions)."""
        self.ws.settimeout(0.01)
        try:
            while True:
                self._event(json.loads(self.ws.recv()))
        except (websocket.WebSocketTimeoutException, TimeoutError):
            pass

    # ---- Page -----------------------------------------------------------

    def goto(self, url, lands_on=None):
        """Loads @url and waits until the page at @lands_on (default: @url
        itself; a prefix, for pages that redirect) has loaded."""
        self.events = []
        self.send("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete' && location.href.startsWith(%s)" % json.dumps(lands_on or url),
                  timeout=30)

    def js(self, expression, await_promise=False):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": await_promise})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError("%s: %s" % (expression[:200], d.get("exception", {}).get("description") or d.get("text")))
        return r.get("result", {}).get("value")

    def wait(self, expression, timeout=20, what=None):
        """Waits until @expression is truthy in the page; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        # A DOM node comes back as {} (falsy here): report it as true.
        expression = "(v => v instanceof Node ? true : v)(%s)" % expression
        while True:
            try:
                last = self.js(expression)
                if last:
                    return last
            except BrowserError as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %g s waiting for %s (last: %r)" % (timeout, what or expression, last))
            time.sleep(0.05)

    def text(self, selector):
        return self.js("(e => e ? e.textContent : null)(document.querySelector(%s))" % json.dumps(selector))

    def click(self, selector, timeout=10):
        """A real click: the element must be shown, enabled (not disabled,
        not aria-disabled, as a busy button is) and on top at its centre."""
        sel = json.dumps(selector)
        box = self.wait("""(() => {
            const e = document.querySelector(%s);
            if (!e || e.disabled || e.hidden || e.getAttribute("aria-disabled") === "true") return null;
            e.scrollIntoView({block: "nearest"});
            const r = e.getBoundingClientRect();
            if (r.width === 0 || r.height === 0) return null;
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            const top = document.elementFromPoint(x, y);
            return top && (top === e || e.contains(top)) ? [x, y] : null;
        })()""" % sel, timeout=timeout, what="a clickable " + selector)
        # Pages move things as they render: click only where the element
        # stays put across two frames.
        for _ in range(50):
            again = self.js("""new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
                const r = document.querySelector(%s).getBoundingClientRect();
                done([r.left + r.width / 2, r.top + r.height / 2]);
            })))""" % sel, await_promise=True)
            if again == box:
                break
            box = again
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type(self, selector, text, clear=True):
        sel = json.dumps(selector)
        self.js("(e => { e.focus(); if (%s) { e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); } })"
                "(document.querySelector(%s))" % ("true" if clear else "false", sel))
        self.send("Input.insertText", {"text": text})

    def select(self, selector, value):
        self.js("(e => { e.value = %s; e.dispatchEvent(new Event('change', {bubbles: true})); })"
                "(document.querySelector(%s))" % (json.dumps(value), json.dumps(selector)))

    def key(self, key, code=None, keycode=0, text=None):
        """A key pressed and released, as a keyboard sends it: with @text, the
        keyDown carries it (Enter on a button activates it on keydown, Space
        on keyup)."""
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": key, "code": code or key, "windowsVirtualKeyCode": keycode}
            if text is not None and kind == "keyDown":
                params["text"] = text
            self.send("Input.dispatchKeyEvent", params)

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
