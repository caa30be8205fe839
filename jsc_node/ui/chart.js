// Bar charts drawn as SVG, one bar per block (no library: the page works offline).

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 170;
const PAD_LEFT = 50;
const PAD_RIGHT = 8;
const PAD_TOP = 10;
const PAD_BOTTOM = 24;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function niceMax(value) {
  if (value <= 0) {
    return 1;
  }
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) {
      return step * power;
    }
  }
  return 10 * power;
}

function formatTick(value) {
  if (value >= 100 || Number.isInteger(value)) {
    return String(Math.round(value));
  }
  return value.toFixed(1);
}

// points: [{label, value, title}], oldest first; draws into `container` (replacing what was there).
// At least `slots` bar places, the newest at the right edge: a young chain's few blocks keep the
// width a full window's have.
export function barChart(container, points, { unit, emptyText, slots = 60 }) {
  const root = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    class: "chart",
  });
  const plotWidth = WIDTH - PAD_LEFT - PAD_RIGHT;
  const plotHeight = HEIGHT - PAD_TOP - PAD_BOTTOM;
  const top = niceMax(Math.max(0, ...points.map((p) => p.value)));
  for (const fraction of [0, 0.5, 1]) {
    const y = PAD_TOP + plotHeight * (1 - fraction);
    root.append(svg("line", { x1: PAD_LEFT, x2: WIDTH - PAD_RIGHT, y1: y, y2: y, class: "grid" }));
    root.append(
      svg("text", { x: PAD_LEFT - 6, y: y + 4, class: "tick", "text-anchor": "end" }, formatTick(top * fraction)),
    );
  }
  root.append(svg("text", { x: 4, y: PAD_TOP + 4, class: "tick unit" }, unit));
  if (points.length === 0) {
    root.append(
      svg("text", { x: PAD_LEFT + plotWidth / 2, y: PAD_TOP + plotHeight / 2, class: "tick", "text-anchor": "middle" }, emptyText),
    );
  }
  const places = Math.max(points.length, slots, 1);
  const offset = places - points.length;
  const slot = plotWidth / places;
  const barWidth = Math.max(1, slot * 0.72);
  points.forEach((point, i) => {
    const height = top > 0 ? (plotHeight * point.value) / top : 0;
    const bar = svg("rect", {
      x: PAD_LEFT + (offset + i) * slot + (slot - barWidth) / 2,
      y: PAD_TOP + plotHeight - height,
      width: barWidth,
      height: Math.max(height, point.value > 0 ? 1 : 0),
      class: "bar",
    });
    bar.append(svg("title", {}, point.title));
    root.append(bar);
  });
  if (points.length > 0) {
    const y = HEIGHT - 6;
    // The first block's number under its bar, unless it would run into the last one's.
    if (places - offset > 8) {
      root.append(svg("text", { x: PAD_LEFT + offset * slot, y, class: "tick" }, points[0].label));
    }
    root.append(svg("text", { x: WIDTH - PAD_RIGHT, y, class: "tick", "text-anchor": "end" }, points[points.length - 1].label));
  }
  container.replaceChildren(root);
}
