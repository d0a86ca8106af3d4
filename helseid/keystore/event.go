package keystore

import "time"

// EventKind says what an Event reports.
type EventKind int

const (
	// KeyReloaded: a Watcher found new keys in the store and gave them to the client.
	KeyReloaded EventKind = iota + 1
	// LoadFailed: reading the store failed; the client keeps its key. Err says why.
	LoadFailed
	// KeyLifetime: an AutoRotator checked the current key; Expires and Left say how long it
	// has (ExpiryUnknown: nobody knows, so it rotates).
	KeyLifetime
	// Rotated: the AutoRotator registered and promoted a new key (KeyID).
	Rotated
	// RotationFailed: a rotation failed; Attempt counts the failures in a row, Wait is the
	// backoff before the next try, Err says why.
	RotationFailed
	// RotationLocked: another process holds the store's rotation lock; this one waits.
	RotationLocked
	// ExpiryWarning: rotation keeps failing and the key expires within
	// AutoRotator.WarnBefore, or when is unknown (ExpiryUnknown): an operator must act (the
	// helseid CLI's rotate, for one).
	ExpiryWarning
)

var eventNames = [...]string{"", "key-reloaded", "load-failed", "key-lifetime", "rotated", "rotation-failed", "rotation-locked", "expiry-warning"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is what Watcher and AutoRotator tell their OnEvent hook. It holds key IDs and times,
// never a key.
type Event struct {
	Kind EventKind
	// KeyID is the current key's (Rotated: the new key's).
	KeyID string
	// PendingKeyID is the pending key's, when there is one.
	PendingKeyID string
	// Expires is when the current key expires; zero when unknown.
	Expires time.Time
	// Left is Expires less the time of the check (KeyLifetime, ExpiryWarning); zero when the
	// expiration is unknown.
	Left time.Duration
	// ExpiryUnknown reports a current key whose expiration nobody knows (one promoted by
	// Rotator.Resolve, or given by an operator): Expires and Left are zero, and the key may
	// expire any day.
	ExpiryUnknown bool
	// Attempt counts failed rotations in a row (RotationFailed, ExpiryWarning).
	Attempt int
	// Wait is the time until the next try (RotationFailed).
	Wait time.Duration
	// Err says what failed.
	Err error
}

// DaysLeft is Left in days; zero when ExpiryUnknown.
func (e Event) DaysLeft() float64 { return e.Left.Hours() / 24 }
