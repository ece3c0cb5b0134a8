// A small line chart of records per second, drawn as inline SVG from
// samples of the RecordsDelivered counter (which emits no signal, so the
// detail view polls it). No chart library: a polyline and two labels.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 480;
const HEIGHT = 140;
const PAD = 28;

function node(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs)
        e.setAttribute(k, attrs[k]);
    if (text !== undefined)
        e.textContent = text;
    return e;
}

export class RateSeries {
    constructor(span = 5 * 60e3) {
        this.span = span; // ms of history kept
        this.samples = []; // [ms, records]
    }

    add(ms, records) {
        const last = this.samples[this.samples.length - 1];
        if (last && records < last[1])
            this.samples = []; // counter went back (source re-created): start over
        this.samples.push([ms, records]);
        while (this.samples.length > 2 && ms - this.samples[0][0] > this.span)
            this.samples.shift();
    }

    // [[ms, records per second]] between consecutive samples.
    rates() {
        const out = [];
        for (let i = 1; i < this.samples.length; i++) {
            const [t0, n0] = this.samples[i - 1];
            const [t1, n1] = this.samples[i];
            if (t1 > t0)
                out.push([t1, (n1 - n0) * 1000 / (t1 - t0)]);
        }
        return out;
    }
}

export function drawChart(container, series) {
    const rates = series.rates();
    const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: "100%", height: HEIGHT, class: "rate-chart" });
    svg.appendChild(node("line", { x1: PAD, y1: HEIGHT - PAD / 2, x2: WIDTH, y2: HEIGHT - PAD / 2, class: "axis" }));
    const max = Math.max(1, ...rates.map(r => r[1]));
    svg.appendChild(node("text", { x: 2, y: 12, class: "label" }, formatRate(max)));
    svg.appendChild(node("text", { x: 2, y: HEIGHT - PAD / 2, class: "label" }, "0"));
    if (rates.length >= 1) {
        const t1 = rates[rates.length - 1][0];
        const t0 = Math.min(rates[0][0], t1 - 60e3);
        const x = t => PAD + (WIDTH - PAD) * (t - t0) / Math.max(1, t1 - t0);
        const y = v => (HEIGHT - PAD / 2) - (HEIGHT - PAD) * v / max;
        const points = rates.map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
        svg.appendChild(node("polyline", { points, class: "line" }));
        const minutes = Math.round((t1 - t0) / 60e3);
        svg.appendChild(node("text", { x: PAD, y: HEIGHT - 1, class: "label" },
                             minutes >= 1 ? minutes + " min ago" : "just now"));
        svg.appendChild(node("text", { x: WIDTH - 30, y: HEIGHT - 1, class: "label" }, "now"));
    }
    container.replaceChildren(svg);
    return rates.length ? rates[rates.length - 1][1] : null;
}

export function formatRate(v) {
    if (v >= 1e6)
        return (v / 1e6).toFixed(1) + "M/s";
    if (v >= 1e3)
        return (v / 1e3).toFixed(1) + "k/s";
    return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + "/s";
}
