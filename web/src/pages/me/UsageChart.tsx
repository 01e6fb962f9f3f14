// The usage charts (/me/usage and an org's Usage page): stacked bars of one measure per time
// bucket, one series each, on the shared EChart (components/charts), loaded lazily with the chart
// only. The table beside it carries the same numbers for screen readers and keyboard users. Once
// drawn, the element says data-rendered="true" (the tests and bench/usage wait on it) and
// data-total the sum it drew.
import { useMemo } from "react";
import EChart from "../../components/charts/EChart";
import type { Series } from "./usage";

export default function UsageChart({
  days,
  series,
  unit,
  testId = "usage-chart",
}: {
  days: string[]; // the buckets' start dates (YYYY-MM-DD), the x axis
  series: Series[];
  unit: string;
  testId?: string;
}) {
  const option = useMemo(
    () => ({
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => `${Number(v).toFixed(2)} ${unit}` },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 16, bottom: 40, containLabel: true },
      xAxis: { type: "category", data: days.map((d) => d.slice(5)) },
      yAxis: { type: "value", name: unit },
      series: series.map((s) => ({ type: "bar", stack: "all", name: s.label, data: s.values })),
    }),
    [days, series, unit],
  );
  const total = useMemo(() => series.reduce((a, s) => a + s.values.reduce((x, y) => x + y, 0), 0).toFixed(2), [series]);
  return (
    <EChart
      option={option}
      testId={testId}
      onRendered={(el) => {
        el.dataset.total = total;
      }}
    />
  );
}
