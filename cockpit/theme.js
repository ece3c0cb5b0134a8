// Cockpit's dark theme: the shell keeps the choice in localStorage
// ("shell:style": auto, light or dark) and each page applies it itself, as
// Cockpit's own pages do (pkg/lib/cockpit-dark-theme). The class is the one
// PatternFly 4 (Cockpit 287) uses.

function apply() {
    let style = null;
    try {
        style = window.localStorage.getItem("shell:style");
    } catch (e) {
        // No storage (a private window): follow the system.
    }
    const dark = style === "dark" ||
        ((!style || style === "auto") && window.matchMedia("(prefers-color-scheme: dark)").matches);
    document.documentElement.classList.toggle("pf-theme-dark", dark);
}

export function followTheme() {
    apply();
    window.addEventListener("storage", ev => { if (ev.key === "shell:style") apply() });
    window.addEventListener("cockpit-style", apply);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
}
