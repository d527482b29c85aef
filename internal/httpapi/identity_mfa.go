package httpapi

import (
	"net/http"
)

// codeBody is the body of the MFA endpoints that take a code.
type codeBody struct {
	Token string `json:"token"`
}

func decodeCode(r *http.Request) (string, error) {
	var b codeBody
	if err := DecodeJSON(r, &b); err != nil {
		return "", err
	}
	return b.Token, nil
}

// mfaEnable is POST /v1/me/mfa/enable (no body; restricted sessions too).
func (h *IdentityHandlers) mfaEnable(w http.ResponseWriter, r *http.Request) error {
	p := Principal(r)
	setup, err := h.Service.BeginTOTP(r.Context(), p.OrganisationID, p.UserID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"secret": setup.Secret,
		"qrCodeUri": setup.URI, "qrCodeDataUrl": setup.DataURL,
		"message": "Scan the QR code, then verify a code"})
	return nil
}

// mfaVerify is POST /v1/me/mfa/verify: activation, and promotion of a
// restricted session to a full one with a new cookie and CSRF token.
func (h *IdentityHandlers) mfaVerify(w http.ResponseWriter, r *http.Request) error {
	code, err := decodeCode(r)
	if err != nil {
		return err
	}
	p := Principal(r)
	act, err := h.Service.ConfirmTOTP(r.Context(), p.OrganisationID, p.UserID, p.SessionID,
		code)
	if err != nil {
		return err
	}
	if act.Promoted {
		h.startSession(w, act.SessionToken, act.Session)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"message": "MFA enabled successfully",
		"backupCodes": act.BackupCodes,
		"warning":     "Store these backup codes now; they will not be shown again"})
	return nil
}

// mfaCheck is POST /v1/me/mfa/check: a dry run.
func (h *IdentityHandlers) mfaCheck(w http.ResponseWriter, r *http.Request) error {
	code, err := decodeCode(r)
	if err != nil {
		return err
	}
	p := Principal(r)
	valid, err := h.Service.CheckTOTP(r.Context(), p.OrganisationID, p.UserID, code)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]bool{"valid": valid})
	return nil
}

// mfaDisable is POST /v1/me/mfa/disable.
func (h *IdentityHandlers) mfaDisable(w http.ResponseWriter, r *http.Request) error {
	code, err := decodeCode(r)
	if err != nil {
		return err
	}
	p := Principal(r)
	if err := h.Service.DisableMFA(r.Context(), p.OrganisationID, p.UserID, code); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, message{"MFA disabled successfully"})
	return nil
}

// mfaBackupCodes is POST /v1/me/mfa/backup-codes.
func (h *IdentityHandlers) mfaBackupCodes(w http.ResponseWriter, r *http.Request) error {
	code, err := decodeCode(r)
	if err != nil {
		return err
	}
	p := Principal(r)
	codes, err := h.Service.RegenerateBackupCodes(r.Context(), p.OrganisationID, p.UserID,
		code)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"backupCodes": codes,
		"message": "Backup codes regenerated successfully"})
	return nil
}
