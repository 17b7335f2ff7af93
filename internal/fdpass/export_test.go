package fdpass

// MaxFDs lets the external tests size a message with too many descriptors.
const MaxFDs = maxFDs
