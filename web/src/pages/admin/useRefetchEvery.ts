// The admin lists have no event stream: they are asked again every `ms` while the page is open.
import { useEffect } from "react";

export function useRefetchEvery(refetch: () => unknown, ms = 10_000): void {
  useEffect(() => {
    const t = setInterval(() => void refetch(), ms);
    return () => clearInterval(t);
  }, [refetch, ms]);
}
