// The work panel: the service-report fields show only when the move is to "resolved".
for (const form of document.querySelectorAll("#transition-form")) {
  const target = form.querySelector("select[name=to]"), report = form.querySelector(".resolve-only");
  const show = () => { report.hidden = target.value !== "resolved"; };
  target.addEventListener("change", show);
  show();
}
