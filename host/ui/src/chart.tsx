import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartProps {
  title: string;
  /** Seconds since the epoch (uPlot's x), values, statuses. */
  xs: number[];
  ys: number[];
  statuses: Array<number | null>;
  thresholds?: { potential?: number; detected?: number };
  onPick?: (index: number) => void;
  height?: number;
}

const COLORS: Record<string, string> = { '2': '#c62828', '1': '#ef6c00' };

/** A time series drawn by uPlot: thresholds as dashed lines, detected (and potential) windows as marked points. */
export function Chart(p: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const props = useRef(p);
  props.current = p;
  useEffect(() => {
    if (!el.current) return;
    const width = Math.max(300, el.current.clientWidth || 800);
    const marks: uPlot.Plugin = {
      hooks: {
        draw: [
          (u) => {
            const { ctx } = u;
            const cur = props.current;
            ctx.save();
            const line = (v: number | undefined, color: string) => {
              if (v === undefined) return;
              const y = u.valToPos(v, 'y', true);
              ctx.strokeStyle = color;
              ctx.setLineDash([6, 4]);
              ctx.lineWidth = 1.5;
              ctx.beginPath();
              ctx.moveTo(u.bbox.left, y);
              ctx.lineTo(u.bbox.left + u.bbox.width, y);
              ctx.stroke();
            };
            line(cur.thresholds?.potential, COLORS['1']!);
            line(cur.thresholds?.detected, COLORS['2']!);
            ctx.setLineDash([]);
            for (let i = 0; i < cur.xs.length; i++) {
              const s = cur.statuses[i];
              if (s !== 2 && s !== 1) continue;
              const x = u.valToPos(cur.xs[i]!, 'x', true);
              const y = u.valToPos(cur.ys[i]!, 'y', true);
              ctx.fillStyle = COLORS[String(s)]!;
              ctx.beginPath();
              ctx.arc(x, y, s === 2 ? 5 : 4, 0, 2 * Math.PI);
              ctx.fill();
            }
            ctx.restore();
          },
        ],
      },
    };
    const u = new uPlot(
      {
        width,
        height: p.height ?? 220,
        title: p.title,
        plugins: [marks],
        cursor: { drag: { x: true, y: false } },
        series: [{}, { label: p.title, stroke: '#1565c0', width: 1.5, points: { show: false } }],
        axes: [{}, { size: 60 }],
        // the thresholds stay in view
        scales: {
          y: {
            range: (_u, min, max) => {
              const t = props.current.thresholds;
              const lo = Math.min(min, t?.potential ?? min);
              const hi = Math.max(max, t?.detected ?? max);
              const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
              return [lo - pad, hi + pad];
            },
          },
        },
      },
      [p.xs, p.ys],
      el.current,
    );
    u.over.addEventListener('click', () => {
      const i = u.cursor.idx;
      if (i !== null && i !== undefined) props.current.onPick?.(i);
    });
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
  }, [p.title]);
  useEffect(() => {
    plot.current?.setData([p.xs, p.ys]);
  }, [p.xs, p.ys, p.statuses, p.thresholds?.potential, p.thresholds?.detected]);
  return (
    <div
      class="chart"
      ref={el}
      data-points={p.xs.length}
      data-detected={p.statuses.filter((s) => s === 2).length}
      data-thresholds={[p.thresholds?.potential, p.thresholds?.detected].filter((t) => t !== undefined).join(',')}
    />
  );
}

/** Bars of counts (histograms, categories): SVG, no library needed for a handful of bars. */
export function Bars(p: { label: string; bins: string[]; series: Array<{ name: string; counts: number[]; color: string }>; marked?: Set<number> }) {
  const W = 420;
  const H = 140;
  const totals = p.series.map((s) => s.counts.reduce((a, b) => a + b, 0) || 1);
  const max = Math.max(1e-12, ...p.series.flatMap((s, k) => s.counts.map((c) => c / totals[k]!)));
  const n = p.bins.length || 1;
  const bw = W / n;
  const sw = bw / Math.max(1, p.series.length);
  return (
    <figure class="bars">
      <svg viewBox={`0 0 ${W} ${H + 14}`} role="img" aria-label={p.label}>
        {p.series.map((s, k) =>
          s.counts.map((c, i) => {
            const h = (c / totals[k]! / max) * H;
            return (
              <rect x={i * bw + k * sw} y={H - h} width={Math.max(1, sw - 1)} height={h} fill={s.color} opacity={0.85}>
                <title>{`${p.bins[i] ?? ''} ${s.name}: ${c}`}</title>
              </rect>
            );
          }),
        )}
        {[...(p.marked ?? [])].map((i) => (
          <text x={i * bw + bw / 2} y={H + 12} text-anchor="middle" font-size="10" fill="#c62828">
            new
          </text>
        ))}
      </svg>
      <figcaption>
        {p.series.map((s) => (
          <span class="legend">
            <i style={{ background: s.color }} /> {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
