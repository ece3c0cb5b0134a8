// Action buttons that keep the keyboard where it was.
//
// A button whose call is in flight is marked busy, not disabled: browsers
// move the focus off a disabled button to the page itself, so a keyboard
// user who pressed Pause would be thrown back to the top. A busy button says
// so (aria-disabled; the CSS dims it) and its handler ignores presses.
//
// Pause and Unpause take turns in one place, and so do Start and Restart
// (and the gate's Pause all and Unpause all): when the one that goes had
// the focus, the one that comes takes it.

export function setBusy(button, busy) {
    if (busy)
        button.setAttribute("aria-disabled", "true");
    else
        button.removeAttribute("aria-disabled");
}

export function isBusy(button) {
    return button.getAttribute("aria-disabled") === "true";
}

export function showInstead(showing, going) {
    const hadFocus = document.activeElement === going;
    going.hidden = true;
    showing.hidden = false;
    if (hadFocus)
        showing.focus();
}

// Which of a source's action buttons show, for the list's rows and the
// detail view alike.
export function showActions(buttons, props) {
    const paused = !!(props.PausedAt || props.SystemPausedAt);
    const running = ["active", "paused", "starting", "restarting"].includes(props.Status);
    if (paused)
        showInstead(buttons.unpause, buttons.pause);
    else
        showInstead(buttons.pause, buttons.unpause);
    if (running)
        showInstead(buttons.restart, buttons.start);
    else
        showInstead(buttons.start, buttons.restart);
    buttons.run.hidden = !(props.FrequencyMinutes || props.CronExpression);
}
