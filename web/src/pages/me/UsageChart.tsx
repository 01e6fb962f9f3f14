// The usage charts (/me/usage and an org's Usage page): stacked bars of one measure per time
// bucket, one series each. ECharts from echarts/core with only a bar chart, grid, tooltip and
// legend (tree-shaken), loaded lazily with the chart only. The table beside it carries the same
// numbers for screen readers and keyboard users. Once drawn, the element says data-rendered="true"
// (ECharts' `finished` event: the tests and bench/usage wait on it) and data-total the sum it drew.
import { useComputedColorScheme } from "@mantine/core";
import { BarChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";
import type { Series } from "./usage";

echarts.use([BarChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

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
  const ref = useRef<HTMLDivElement>(null);
  const dark = useComputedColorScheme("light") === "dark";
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.dataset.rendered = "false";
    const chart = echarts.init(el, dark ? "dark" : undefined, { renderer: "canvas" });
    chart.on("finished", () => {
      el.dataset.total = series.reduce((a, s) => a + s.values.reduce((x, y) => x + y, 0), 0).toFixed(2);
      el.dataset.rendered = "true";
    });
    chart.setOption({
      animation: false,
      backgroundColor: "transparent",
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => `${Number(v).toFixed(2)} ${unit}` },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 8, top: 16, bottom: 40, containLabel: true },
      xAxis: { type: "category", data: days.map((d) => d.slice(5)) },
      yAxis: { type: "value", name: unit },
      series: series.map((s) => ({ type: "bar", stack: "all", name: s.label, data: s.values })),
    });
    const resize = new ResizeObserver(() => chart.resize());
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.dispose();
    };
  }, [days, series, unit, dark]);
  return <div ref={ref} data-testid={testId} style={{ width: "100%", height: 280 }} />;
}
