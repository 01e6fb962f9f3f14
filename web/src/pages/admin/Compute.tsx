// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Compute() {
  return <p>Compute</p>;
}
