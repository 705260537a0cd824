/**
 * The benchmark's chart, as SVG: for each load, each server's requests/s and CPU time per
 * request as a ratio to the Node server's (the dashed line at 1×). Plain SVG, so that GitHub
 * and any browser show it with nothing to install.
 *
 * @module
 */

import { type Machine, reference, type Row, type ScenarioInfo } from "./report.ts";

const ROW = 18;
const LABEL = 290;
const PANEL = 250;
const GAP = 70;
const TOP = 56;

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The chart of `rows`, ratios to each load's Node server. */
export function chart(machine: Machine, scenarios: ScenarioInfo[], rows: Row[]): string {
  const panels = [
    { key: "rate" as const, title: "requests/s, × Node (longer is better)" },
    { key: "cpu" as const, title: "CPU per request, × Node (shorter is better)" },
  ];
  const ratios = rows.map((row) => {
    const node = reference(rows, row.scenario)!;
    return { row, rate: row.rate / node.rate, cpu: row.cpu / node.cpu };
  });
  const scale = (key: "rate" | "cpu") => {
    const finite = ratios.map((r) => r[key]).filter(Number.isFinite);
    return Math.max(1.25, ...finite);
  };
  const parts: string[] = [];
  let y = TOP;
  for (const scenario of scenarios) {
    const group = ratios.filter((r) => r.row.scenario === scenario.id);
    if (group.length === 0) continue;
    parts.push(`<text x="8" y="${y + 13}" font-weight="bold">${escape(scenario.title)}</text>`);
    y += ROW;
    for (const { row, ...ratio } of group) {
      const fill = row.ours ? "#0f766e" : row.reference ? "#64748b" : "#cbd5e1";
      const weight = row.ours ? ` font-weight="bold"` : "";
      parts.push(`<text x="20" y="${y + 13}"${weight}>${escape(row.label)}</text>`);
      panels.forEach((panel, i) => {
        const x = LABEL + i * (PANEL + GAP);
        const value = ratio[panel.key];
        const width = Number.isFinite(value) ? (value / scale(panel.key)) * PANEL : 0;
        const text = Number.isFinite(value) ? `${value.toFixed(2)}×` : "–";
        parts.push(
          `<rect x="${x}" y="${y + 3}" width="${width.toFixed(1)}" height="${ROW - 6}" ` +
            `fill="${fill}"/>`,
          `<text x="${(x + width + 4).toFixed(1)}" y="${y + 13}" font-size="11">${text}</text>`,
        );
      });
      y += ROW;
    }
    y += 6;
  }
  const height = y + 10;
  const width = LABEL + 2 * PANEL + GAP + 50;
  const frame = panels.flatMap((panel, i) => {
    const x = LABEL + i * (PANEL + GAP);
    const one = x + PANEL / scale(panel.key);
    return [
      `<text x="${x}" y="${TOP - 8}" font-weight="bold">${escape(panel.title)}</text>`,
      `<line x1="${x}" y1="${TOP}" x2="${x}" y2="${height - 10}" stroke="#94a3b8"/>`,
      `<line x1="${one.toFixed(1)}" y1="${TOP}" x2="${one.toFixed(1)}" y2="${height - 10}" ` +
      `stroke="#475569" stroke-dasharray="4 3"/>`,
    ];
  });
  const caption = `${machine.date} · Deno ${machine.deno} · Node ${machine.node} · ` +
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
