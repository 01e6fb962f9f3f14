// The app's one QueryClient: main.tsx provides it to React; the route table's loaders use it to
// start a page's data fetches while the page's lazy chunks load (instead of after they ran).
import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/problem";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // 4xx are answers, not glitches: no retry. Network errors and 5xx get one more try.
      retry: (n, e) => !(e instanceof ApiError && e.status < 500) && n < 1,
      refetchOnWindowFocus: false,
      staleTime: 10_000,
    },
  },
});
