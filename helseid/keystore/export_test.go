package keystore

// SetStepHook makes r call at after each step of Rotate, with the step's name.
func SetStepHook(r *Rotator, at func(step string)) { r.at = at }
