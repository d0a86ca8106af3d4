package keystore

import "time"

// SetStepHook makes r call at after each step of Rotate, with the step's name.
func SetStepHook(r *Rotator, at func(step string)) { r.at = at }

// RenewAt returns the moment a has drawn to renew the key kid expiring at expires.
func RenewAt(a *AutoRotator, kid string, expires time.Time) time.Time {
	return a.renewTime(kid, expires)
}
