import "./styles";
import { MantineProvider, createTheme } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider } from "react-router";
import { ApiError } from "./api/problem";
import { router } from "./app/routes";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // 4xx are answers, not glitches: no retry. Network errors and 5xx get one more try.
      retry: (n, e) => !(e instanceof ApiError && e.status < 500) && n < 1,
      refetchOnWindowFocus: false,
      staleTime: 10_000,
    },
  },
});

const theme = createTheme({ primaryColor: "blue", defaultRadius: "sm", focusRing: "auto" });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto">
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
