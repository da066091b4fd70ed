/**
 * A small SVG line chart (no library: a few hundred points at most, drawn once per refresh). The plot stretches
 * to its box's width (`preserveAspectRatio="none"`, strokes kept at 1.5 px); labels are HTML beside it, so they
 * never stretch. Gaps (undefined values) break the line. Hovering or tapping shows the nearest point's values.
 */
import { useState } from 'react'

export interface ChartSeries {
  key: string
  label: string
  /** A CSS colour (a custom property is fine). */
  color: string
}

export interface LineChartProps<P extends { t: number }> {
  title: string
  points: readonly P[]
  series: readonly ChartSeries[]
  value: (p: P, key: string) => number | undefined
  format: (v: number) => string
  formatTime: (t: number) => string
  /** The y axis starts at 0 and reaches at least this. */
  minMax?: number
  testId?: string
}

const W = 600
const H = 160
const PAD = 6

export function LineChart<P extends { t: number }>({ title, points, series, value, format, formatTime, minMax = 0, testId }: LineChartProps<P>) {
  const [hover, setHover] = useState<number | undefined>(undefined)
  let max = minMax
  for (const p of points) for (const s of series) max = Math.max(max, value(p, s.key) ?? 0)
  if (!(max > 0)) max = 1
  const n = points.length
  // points stay PAD inside the edges, so the first and last are not cut in half
  const x = (i: number) => (n <= 1 ? W / 2 : PAD + (i / (n - 1)) * (W - 2 * PAD))
  const y = (v: number) => H - (v / max) * (H - 4) - 2
  const paths = series.map((s) => {
    let d = ''
    let pen = false
    points.forEach((p, i) => {
      const v = value(p, s.key)
      if (v === undefined) {
        pen = false
        return
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`
      pen = true
    })
    return { ...s, d }
  })
  const dots = series.flatMap((s) =>
    points.flatMap((p, i) => {
      const v = value(p, s.key)
      // a point with no neighbour would draw nothing as a line
      const lone = v !== undefined && (i === 0 || value(points[i - 1]!, s.key) === undefined) && (i === n - 1 || value(points[i + 1]!, s.key) === undefined)
      return lone && v !== undefined ? [{ key: `${s.key}-${i}`, cx: x(i), cy: y(v), color: s.color }] : []
    }),
  )
  const pick = (clientX: number, rect: DOMRect) => {
    if (n === 0 || rect.width === 0) return
    const at = ((clientX - rect.left) / rect.width) * W
    setHover(n === 1 ? 0 : Math.max(0, Math.min(n - 1, Math.round(((at - PAD) / (W - 2 * PAD)) * (n - 1)))))
  }
  const shown = hover !== undefined ? points[hover] : undefined
  return (
    <figure className="chart" data-testid={testId}>
      <figcaption className="chart__head">
        <span className="chart__title">{title}</span>
        <span className="chart__legend">
          {series.map((s) => (
            <span key={s.key} className="chart__key">
              <span className="chart__swatch" style={{ background: s.color }} aria-hidden="true" />
              {s.label}
              {shown ? (
                <strong>
                  {(() => {
                    const v = value(shown, s.key)
                    return v === undefined ? ' —' : ` ${format(v)}`
                  })()}
                </strong>
              ) : null}
            </span>
          ))}
        </span>
      </figcaption>
      <div className="chart__body">
        <span className="chart__max muted small">{format(max)}</span>
        <svg
          className="chart__plot"
          viewBox={`0 0 ${W} ${H}`}
          preserveAspectRatio="none"
          role="img"
          aria-label={`${title}: ${series.map((s) => s.label).join(', ')}`}
          onPointerMove={(e) => pick(e.clientX, e.currentTarget.getBoundingClientRect())}
          onPointerDown={(e) => pick(e.clientX, e.currentTarget.getBoundingClientRect())}
          onPointerLeave={() => setHover(undefined)}
        >
          <line x1="0" x2={W} y1={H - 2} y2={H - 2} className="chart__axis" vectorEffect="non-scaling-stroke" />
          <line x1="0" x2={W} y1={H / 2} y2={H / 2} className="chart__grid" vectorEffect="non-scaling-stroke" />
          {paths.map((p) => (
            <path key={p.key} d={p.d} fill="none" stroke={p.color} strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
          ))}
          {dots.map((d) => (
            <line
              key={d.key}
              x1={d.cx}
              x2={d.cx}
              y1={d.cy}
              y2={d.cy}
              stroke={d.color}
              strokeWidth="5"
              strokeLinecap="round"
              vectorEffect="non-scaling-stroke"
            />
          ))}
          {hover !== undefined ? <line x1={x(hover)} x2={x(hover)} y1="0" y2={H} className="chart__cursor" vectorEffect="non-scaling-stroke" /> : null}
        </svg>
      </div>
      <div className="chart__foot muted small">
        <span>{n ? formatTime(points[0]!.t) : ''}</span>
        <span>{shown ? formatTime(shown.t) : ''}</span>
        <span>{n ? formatTime(points[n - 1]!.t) : ''}</span>
      </div>
    </figure>
  )
}
