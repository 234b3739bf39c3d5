// Package media is the RTP/SRTP media plane used by imslab UEs for voice calls.
package media
