// Accessibility: axe-core finds no serious or critical violation on the page as it is now.
import { AxeBuilder } from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";

export async function expectAccessible(page: Page, what: string): Promise<void> {
  // A transition still running (a dialog fading in) measures as low contrast: wait it out.
  // (A function, not a string: the UI's CSP forbids eval. This tsconfig has no DOM types.)
  // Two frames first: right after a change (emulateMedia to dark) the new styles, and the
  // transitions they start, exist only once the browser has recalculated them.
  await page.evaluate(
    () =>
      new Promise<void>((done) => {
        const raf = (globalThis as unknown as { requestAnimationFrame(f: () => void): void }).requestAnimationFrame;
        raf(() => raf(() => done()));
      }),
  );
  await page.waitForFunction(() => {
    type Anim = { playState: string; constructor: { name: string } };
    const doc = (globalThis as unknown as { document: { getAnimations(): Anim[] } }).document;
    return doc.getAnimations().every((a) => a.constructor.name !== "CSSTransition" || a.playState !== "running");
  });
  const r = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(" ")).join("\n  ")}`);
  expect(bad, `axe on ${what}`).toEqual([]);
}
