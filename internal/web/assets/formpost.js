// Submits the authorization response form as soon as the page loads; the
// page works without JavaScript through its Continue button.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("formpost");
  if (form) {
    form.submit();
  }
});
