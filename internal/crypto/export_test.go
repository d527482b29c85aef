package crypto

// SetSlotHook installs f to be called with +1 each time h takes a hashing
// slot and with -1 each time it gives one back. Tests only; call it before
// the hasher is used.
func SetSlotHook(h *PasswordHasher, f func(delta int)) {
	h.slotHook = f
}
