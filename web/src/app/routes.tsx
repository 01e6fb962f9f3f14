// The route table. Each area (pages/<area>/index.ts) lists its own routes with lazily loaded
// pages, so the first page loads only the shell and the code of the page it shows.
import { createBrowserRouter, type RouteObject } from "react-router";
import { authRoutes } from "../pages/auth";
import { recoveryRoutes } from "../pages/recovery";
import { homeRoutes } from "../pages/home";
import { projectRoutes, projectChildRoutes } from "../pages/projects";
import { codeRoutes } from "../pages/code";
import { dataRoutes } from "../pages/data";
import { jobRoutes, projectJobRoutes } from "../pages/jobs";
import { envRoutes, projectEnvRoutes } from "../pages/envs";
import { projectImageRoutes } from "../pages/images";
import { projectSecretRoutes } from "../pages/secrets";
import { meRoutes } from "../pages/me";
import { orgAdminRoutes } from "../pages/orgadmin";
import { adminRoutes } from "../pages/admin";
import { projectQuery } from "../api/projects";
import { loadMe, ME_KEY } from "../auth/session";
import { queryClient } from "./queryClient";
import { Root } from "./Root";
import { NotFound } from "./NotFound";

const routes: RouteObject[] = [
  {
    element: <Root />,
    // Who is signed in, asked for while the matched routes' chunks load (the router loads them
    // before it renders anything, so SessionProvider's own query would start only after them).
    loader: () => {
      void queryClient.prefetchQuery({ queryKey: ME_KEY, queryFn: loadMe, staleTime: 60_000, retry: false });
      return null;
    },
    children: [
      // Pages without the signed-in shell: sign in, invitations, a full-window terminal.
      ...authRoutes,
      ...recoveryRoutes,
      ...envRoutes.bare,
      {
        // The signed-in shell is its own chunk: the sign-in page does not load it.
        lazy: async () => ({ Component: (await import("./Layout")).Layout }),
        children: [
          ...homeRoutes,
          ...meRoutes,
          ...orgAdminRoutes,
          ...adminRoutes,
          ...jobRoutes,
          ...envRoutes.shell,
          ...projectRoutes,
          {
            // /{org}/{project}/...: the project's own pages share its header and tabs.
            path: ":org/:project",
            // The project too (ProjectShell's query), not after /me and the chunks.
            loader: ({ params }) => {
              void queryClient.prefetchQuery(projectQuery(params.org ?? "", params.project ?? ""));
              return null;
            },
            lazy: async () => ({ Component: (await import("../pages/projects/ProjectShell")).ProjectShell }),
            children: [...projectChildRoutes, ...codeRoutes, ...dataRoutes, ...projectJobRoutes, ...projectEnvRoutes, ...projectImageRoutes, ...projectSecretRoutes],
          },
          { path: "*", element: <NotFound /> },
        ],
      },
    ],
  },
];

export const router = createBrowserRouter(routes);
