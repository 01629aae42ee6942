package pixels

import "strings"

// VideoCodec names the video codec of a video transfer syntax (PS3.5
// 8.2.5–8.2.8: MPEG-2, MPEG-4 AVC/H.264, HEVC/H.265, including their
// fragmentable variants), or "" for any other transfer syntax. The pixel
// data of such an object is one video bitstream: no frame of it can be
// blacked out here, so it is never cleaned.
func VideoCodec(ts string) string {
	base := strings.TrimSuffix(ts, ".1")
	switch base {
	case "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101":
		return "MPEG-2"
	case "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104",
		"1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106":
		return "H.264"
	case "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108":
		return "HEVC"
	}
	return ""
}

// VideoReason is the residual reason of a video object, as the technician
// reads it.
func VideoReason(ts string) string {
	return "video (" + VideoCodec(ts) + "): burned-in text cannot be removed from video; shown behind the password"
}
