// The admin's pages work without this file; it only adds "select all".
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    for (const box of document.querySelectorAll('input[name="device"]')) box.checked = all.checked;
  });
});
