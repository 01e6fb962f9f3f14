// One ECharts chart for the UI's pages: echarts/core with only the bar and line charts, grid,
// tooltip and legend (tree-shaken), in the light or dark theme of the page. Import it lazily
// (`lazy(() => import(".../charts/EChart"))` or from a lazily loaded chart module) so that ECharts
// loads only with a chart. Always show the same numbers in a table beside it (screen readers,
// keyboards, CSV). Once drawn, the element says data-rendered="true" (ECharts' `finished` event:
// tests and benchmarks wait on it); onRendered runs just before.
import { useComputedColorScheme } from "@mantine/core";
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export type ChartOption = echarts.EChartsCoreOption;

export default function EChart({
  option,
  height = 280,
  testId,
  onRendered,
}: {
  option: ChartOption;
  height?: number;
  testId?: string;
  onRendered?: (el: HTMLDivElement) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const rendered = useRef(onRendered);
  rendered.current = onRendered;
  const dark = useComputedColorScheme("light") === "dark";
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const c = echarts.init(el, dark ? "dark" : undefined, { renderer: "canvas" });
    c.on("finished", () => {
      rendered.current?.(el);
      el.dataset.rendered = "true";
    });
    chart.current = c;
    const resize = new ResizeObserver(() => c.resize());
    resize.observe(el);
    return () => {
      resize.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, [dark]);
  // A new option (a refresh) updates the chart in place: no flicker, the tooltip stays.
  useEffect(() => {
    if (ref.current) ref.current.dataset.rendered = "false";
    chart.current?.setOption({ animation: false, backgroundColor: "transparent", ...option }, { notMerge: true });
  }, [option, dark]);
  return <div ref={ref} data-testid={testId} style={{ width: "100%", height }} />;
}
