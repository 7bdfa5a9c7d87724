// Passkeys (WebAuthn) on the Two-factor page and the login's second step
// (internal/web/passkeys.go, login.go). The forms are plain forms: this
// script asks the API for the options, the browser for the passkey, puts
// the answer (JSON, base64url as in the WebAuthn JSON forms) in the form's
// hidden field and submits it. Without WebAuthn the forms say so. What
// the script writes comes from the form's data-msg-* attributes, in the
// reader's language (the templates put them there).
(function () {
  "use strict";

  var b64u = function (buf) {
    var s = "", bytes = new Uint8Array(buf);
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  var unb64u = function (s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  };
  var ids = function (list) {
    return (list || []).map(function (c) { var d = Object.assign({}, c); d.id = unb64u(c.id); return d; });
  };
  var msg = function (form, name, fallback) {
    return form.getAttribute("data-msg-" + name) || fallback;
  };
  var fail = function (form, text) {
    var p = form.querySelector("#passkey-error");
    if (p) { p.textContent = text; p.hidden = false; }
    form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
  };
  var options = function (form, body) {
    var csrf = form.querySelector("input[name=csrf_token]");
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (csrf) { headers["X-CSRF-Token"] = csrf.value; }
    return fetch(form.getAttribute("data-options"), { method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body || {}) })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) { throw new Error((j.error && j.error.message) || ("HTTP " + r.status)); }
          return j;
        });
      });
  };
  var common = function (cred) {
    return { id: cred.id, rawId: b64u(cred.rawId), type: cred.type, authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {} };
  };
  var bind = function (form, run) {
    if (!form) { return; }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      fail(form, msg(form, "unsupported", "This browser cannot use passkeys."));
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      return;
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      run(form).then(function () { form.submit(); }, function (e) {
        fail(form, e && e.name === "NotAllowedError" ? msg(form, "not-used", "The passkey was not used (cancelled or timed out).") : (e && e.message) || String(e));
      });
    });
  };

  // The Two-factor page: add a passkey.
  bind(document.getElementById("add-passkey"), function (form) {
    return options(form).then(function (j) {
      var pk = j.publicKey;
      pk.challenge = unb64u(pk.challenge);
      pk.user.id = unb64u(pk.user.id);
      pk.excludeCredentials = ids(pk.excludeCredentials);
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      var out = common(cred);
      out.response = { clientDataJSON: b64u(cred.response.clientDataJSON), attestationObject: b64u(cred.response.attestationObject),
        transports: cred.response.getTransports ? cred.response.getTransports() : [] };
      form.querySelector("input[name=credential]").value = JSON.stringify(out);
    });
  });

  // An assertion for the options j into the form's passkey field.
  var assert = function (form, j) {
    var pk = j.publicKey;
    pk.challenge = unb64u(pk.challenge);
    pk.allowCredentials = ids(pk.allowCredentials);
    return navigator.credentials.get({ publicKey: pk }).then(function (cred) {
      var out = common(cred);
      out.response = { clientDataJSON: b64u(cred.response.clientDataJSON), authenticatorData: b64u(cred.response.authenticatorData),
        signature: b64u(cred.response.signature), userHandle: cred.response.userHandle ? b64u(cred.response.userHandle) : undefined };
      form.querySelector("input[name=passkey]").value = JSON.stringify(out);
    });
  };

  // The login's second step: sign in with a passkey.
  bind(document.getElementById("passkey-login"), function (form) {
    var challenge = form.querySelector("input[name=challenge]").value;
    return options(form, { challenge: challenge }).then(function (j) { return assert(form, j); });
  });

  // The Two-factor page: turn it off with the password and a passkey.
  bind(document.getElementById("disable-passkey"), function (form) {
    if (!form.querySelector("input[name=password]").value) {
      return Promise.reject(new Error(msg(form, "password-first", "Type your password first.")));
    }
    return options(form).then(function (j) {
      form.querySelector("input[name=challenge]").value = j.challenge;
      return assert(form, j);
    });
  });
})();
