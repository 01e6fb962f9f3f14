// The usage chart's module (ECharts), loaded when a page that shows it mounts, in parallel with the
// page's data: no Suspense boundary, whose reveal React holds back (up to 300 ms) after a fallback.
// null until it has loaded.
import { useEffect, useState } from "react";
import type UsageChartType from "./UsageChart";

type Chart = typeof UsageChartType;
let loaded: Chart | null = null;

export function useUsageChart(): Chart | null {
  const [chart, setChart] = useState<Chart | null>(() => loaded);
  useEffect(() => {
    if (loaded) return;
    let live = true;
    void import("./UsageChart").then((m) => {
      loaded = m.default;
      if (live) setChart(() => m.default);
    });
    return () => {
      live = false;
    };
  }, []);
  return chart;
}
