import "./styles";
import { MantineProvider, createTheme } from "@mantine/core";
import { QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider } from "react-router";
import { queryClient } from "./app/queryClient";
import { router } from "./app/routes";

// Shade 8: white text on the primary colour meets WCAG AA (4.5:1); Mantine's default 6 does not.
const theme = createTheme({ primaryColor: "blue", primaryShade: { light: 8, dark: 8 }, respectReducedMotion: true, defaultRadius: "sm", focusRing: "auto" });

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto">
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
