/**
 * The benchmark's chart, as SVG: for each load, each server's requests/s as a ratio to the Node
 * server's, and its CPU time per request as a ratio to Node's, to the bare Deno loop's and to
 * the C server's (the dashed line at 1× in each). A bar whose requests/s were limited by the
 * load generator is drawn pale and says so. Plain SVG, so that GitHub and any browser show it
 * with nothing to install.
 *
 * @module
 */

import {
  type Anchor,
  limited,
  type Machine,
  reference,
  type Row,
  type ScenarioInfo,
} from "./report.ts";

const ROW = 18;
const LABEL = 290;
const PANEL = 180;
const GAP = 60;
const TOP = 56;

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The chart of `rows`, ratios to each load's anchors. */
export function chart(machine: Machine, scenarios: ScenarioInfo[], rows: Row[]): string {
  const panels: { key: "rate" | "cpu"; anchor: Anchor; title: string }[] = [
    { key: "rate", anchor: "node", title: "requests/s, × Node (longer is better)" },
    { key: "cpu", anchor: "node", title: "CPU/request, × Node (shorter is better)" },
    { key: "cpu", anchor: "deno", title: "CPU/request, × bare Deno" },
    { key: "cpu", anchor: "c", title: "CPU/request, × C epoll" },
  ];
  const ratios = rows.map((row) => ({
    row,
    values: panels.map((panel) => {
      const anchor = reference(rows, row.scenario, panel.anchor);
      return anchor ? row[panel.key] / anchor[panel.key] : NaN;
    }),
  }));
  const scales = panels.map((_, i) => {
    const finite = ratios.map((r) => r.values[i]).filter(Number.isFinite);
    return Math.max(1.25, ...finite);
  });
  const parts: string[] = [];
  let y = TOP;
  for (const scenario of scenarios) {
    const group = ratios.filter((r) => r.row.scenario === scenario.id);
    if (group.length === 0) continue;
    parts.push(`<text x="8" y="${y + 13}" font-weight="bold">${escape(scenario.title)}</text>`);
    y += ROW;
    for (const { row, values } of group) {
      const fill = row.ours ? "#0f766e" : row.anchor ? "#64748b" : "#cbd5e1";
      const weight = row.ours ? ` font-weight="bold"` : "";
      parts.push(`<text x="20" y="${y + 13}"${weight}>${escape(row.label)}</text>`);
      panels.forEach((panel, i) => {
        const x = LABEL + i * (PANEL + GAP);
        const value = values[i];
        const width = Number.isFinite(value) ? (value / scales[i]) * PANEL : 0;
        // Requests/s that the load generator limited are no verdict: pale, and said.
        const pale = panel.key === "rate" && limited(row);
        const text = !Number.isFinite(value)
          ? "–"
          : `${value.toFixed(2)}×${pale ? " limited" : ""}`;
        parts.push(
          `<rect x="${x}" y="${y + 3}" width="${width.toFixed(1)}" height="${ROW - 6}" ` +
            `fill="${fill}"${pale ? ` fill-opacity="0.35"` : ""}/>`,
          `<text x="${(x + width + 4).toFixed(1)}" y="${y + 13}" font-size="11">${text}</text>`,
        );
      });
      y += ROW;
    }
    y += 6;
  }
  const height = y + 10;
  const width = LABEL + panels.length * (PANEL + GAP) + 20;
  const frame = panels.flatMap((panel, i) => {
    const x = LABEL + i * (PANEL + GAP);
    const one = x + PANEL / scales[i];
    return [
      `<text x="${x}" y="${TOP - 8}" font-weight="bold">${escape(panel.title)}</text>`,
      `<line x1="${x}" y1="${TOP}" x2="${x}" y2="${height - 10}" stroke="#94a3b8"/>`,
      `<line x1="${one.toFixed(1)}" y1="${TOP}" x2="${one.toFixed(1)}" y2="${height - 10}" ` +
      `stroke="#475569" stroke-dasharray="4 3"/>`,
    ];
  });
  const caption =
    `${
      machine.quick ? "a smoke run (--quick) · " : ""
    }${machine.date} · Deno ${machine.deno} · Node ${machine.node} · ` +
    `${machine.cpu}, ${machine.cpus} CPUs · medians of ${machine.runs} run(s) of ` +
    `${machine.seconds} s`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">Timestamp servers side by side</text>`,
    `<text x="8" y="34" font-size="11" fill="#475569">${escape(caption)}</text>`,
    ...frame,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
