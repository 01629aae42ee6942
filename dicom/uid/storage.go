package uid

import "strings"

// The storage SOP classes of PS3.4 Annex B (Storage Service Class), current
// and retired, with their PS3.6 names. sonolink accepts all of them by
// default: whatever a scanner sends is stored, and what cannot be
// de-identified or rendered is kept behind the patient's password.
//
// Not listed: the non-patient objects of other annexes (Hanging Protocol,
// Color Palette, implant templates, RT delivery instructions) and the Media
// Storage Directory (DICOMDIR), which is not sent over the network.

// sopFlags describe a SOP class.
type sopFlags uint8

const (
	// pixelData: instances hold an image (Pixel Data, or Float/Double Float
	// Pixel Data), so a compressed transfer syntax means something for them.
	pixelData sopFlags = 1 << iota
	// retired in PS3.4 but still sent by older equipment.
	retired
)

type sopClass struct {
	uid, name string
	flags     sopFlags
}

// StorageRoot is the UID root under which PS3.4 Annex B defines its storage
// SOP classes. A class added to the standard after this list was written is
// still a storage class; IsStorage accepts it by its root.
const StorageRoot = "1.2.840.10008.5.1.4.1.1."

var storageClasses = []sopClass{
	{"1.2.840.10008.5.1.1.27", "Stored Print Storage (Retired)", retired},
	{"1.2.840.10008.5.1.1.29", "Hardcopy Grayscale Image Storage (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.1.30", "Hardcopy Color Image Storage (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.4.1.1.1", "Computed Radiography Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.1.1", "Digital X-Ray Image Storage - For Presentation", pixelData},
	{"1.2.840.10008.5.1.4.1.1.1.1.1", "Digital X-Ray Image Storage - For Processing", pixelData},
	{"1.2.840.10008.5.1.4.1.1.1.2", "Digital Mammography X-Ray Image Storage - For Presentation", pixelData},
	{"1.2.840.10008.5.1.4.1.1.1.2.1", "Digital Mammography X-Ray Image Storage - For Processing", pixelData},
	{"1.2.840.10008.5.1.4.1.1.1.3", "Digital Intra-Oral X-Ray Image Storage - For Presentation", pixelData},
	{"1.2.840.10008.5.1.4.1.1.1.3.1", "Digital Intra-Oral X-Ray Image Storage - For Processing", pixelData},
	{"1.2.840.10008.5.1.4.1.1.2", "CT Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.2.1", "Enhanced CT Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.2.2", "Legacy Converted Enhanced CT Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.3", "Ultrasound Multi-frame Image Storage (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.4.1.1.3.1", "Ultrasound Multi-frame Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.4", "MR Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.4.1", "Enhanced MR Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.4.2", "MR Spectroscopy Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.4.3", "Enhanced MR Color Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.4.4", "Legacy Converted Enhanced MR Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.5", "Nuclear Medicine Image Storage (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.4.1.1.6", "Ultrasound Image Storage (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.4.1.1.6.1", "Ultrasound Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.6.2", "Enhanced US Volume Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.6.3", "Photoacoustic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.7.1", "Multi-frame Single Bit Secondary Capture Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.7.2", "Multi-frame Grayscale Byte Secondary Capture Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.7.3", "Multi-frame Grayscale Word Secondary Capture Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.7.4", "Multi-frame True Color Secondary Capture Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.8", "Standalone Overlay Storage (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.9", "Standalone Curve Storage (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.9.1", "Waveform Storage - Trial (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.9.1.1", "12-lead ECG Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.1.2", "General ECG Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.1.3", "Ambulatory ECG Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.1.4", "General 32-bit ECG Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.2.1", "Hemodynamic Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.3.1", "Cardiac Electrophysiology Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.4.1", "Basic Voice Audio Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.4.2", "General Audio Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.5.1", "Arterial Pulse Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.6.1", "Respiratory Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.9.6.2", "Multi-channel Respiratory Waveform Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.10", "Standalone Modality LUT Storage (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.11", "Standalone VOI LUT Storage (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.11.1", "Grayscale Softcopy Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.2", "Color Softcopy Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.3", "Pseudo-Color Softcopy Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.4", "Blending Softcopy Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.5", "XA/XRF Grayscale Softcopy Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.6", "Grayscale Planar MPR Volumetric Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.7", "Compositing Planar MPR Volumetric Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.8", "Advanced Blending Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.9", "Volume Rendering Volumetric Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.10", "Segmented Volume Rendering Volumetric Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.11.11", "Multiple Volume Rendering Volumetric Presentation State Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.12.1", "X-Ray Angiographic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.12.1.1", "Enhanced XA Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.12.2", "X-Ray Radiofluoroscopic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.12.2.1", "Enhanced XRF Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.12.3", "X-Ray Angiographic Bi-Plane Image Storage (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.4.1.1.13.1.1", "X-Ray 3D Angiographic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.13.1.2", "X-Ray 3D Craniofacial Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.13.1.3", "Breast Tomosynthesis Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.13.1.4", "Breast Projection X-Ray Image Storage - For Presentation", pixelData},
	{"1.2.840.10008.5.1.4.1.1.13.1.5", "Breast Projection X-Ray Image Storage - For Processing", pixelData},
	{"1.2.840.10008.5.1.4.1.1.14.1", "Intravascular Optical Coherence Tomography Image Storage - For Presentation", pixelData},
	{"1.2.840.10008.5.1.4.1.1.14.2", "Intravascular Optical Coherence Tomography Image Storage - For Processing", pixelData},
	{"1.2.840.10008.5.1.4.1.1.20", "Nuclear Medicine Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.30", "Parametric Map Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.66", "Raw Data Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.66.1", "Spatial Registration Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.66.2", "Spatial Fiducials Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.66.3", "Deformable Spatial Registration Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.66.4", "Segmentation Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.66.5", "Surface Segmentation Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.66.6", "Tractography Results Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.66.7", "Label Map Segmentation Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.66.8", "Height Map Segmentation Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.67", "Real World Value Mapping Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.68.1", "Surface Scan Mesh Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.68.2", "Surface Scan Point Cloud Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.77.1", "VL Image Storage - Trial (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.4.1.1.77.1.1", "VL Endoscopic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.1.1", "Video Endoscopic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.2", "VL Microscopic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.2.1", "Video Microscopic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.3", "VL Slide-Coordinates Microscopic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.4", "VL Photographic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.4.1", "Video Photographic Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.1", "Ophthalmic Photography 8 Bit Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.2", "Ophthalmic Photography 16 Bit Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.3", "Stereometric Relationship Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.4", "Ophthalmic Tomography Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.5", "Wide Field Ophthalmic Photography Stereographic Projection Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.6", "Wide Field Ophthalmic Photography 3D Coordinates Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.7", "Ophthalmic Optical Coherence Tomography En Face Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.5.8", "Ophthalmic Optical Coherence Tomography B-scan Volume Analysis Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.77.1.6", "VL Whole Slide Microscopy Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.1.7", "Dermoscopic Photography Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.77.2", "VL Multi-frame Image Storage - Trial (Retired)", pixelData | retired},
	{"1.2.840.10008.5.1.4.1.1.78.1", "Lensometry Measurements Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.78.2", "Autorefraction Measurements Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.78.3", "Keratometry Measurements Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.78.4", "Subjective Refraction Measurements Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.78.5", "Visual Acuity Measurements Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.78.6", "Spectacle Prescription Report Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.78.7", "Ophthalmic Axial Measurements Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.78.8", "Intraocular Lens Calculations Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.79.1", "Macular Grid Thickness and Volume Report Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.80.1", "Ophthalmic Visual Field Static Perimetry Measurements Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.81.1", "Ophthalmic Thickness Map Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.82.1", "Corneal Topography Map Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.88.1", "Text SR Storage - Trial (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.88.2", "Audio SR Storage - Trial (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.88.3", "Detail SR Storage - Trial (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.88.4", "Comprehensive SR Storage - Trial (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.88.11", "Basic Text SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.22", "Enhanced SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.33", "Comprehensive SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.34", "Comprehensive 3D SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.35", "Extensible SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.40", "Procedure Log Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.50", "Mammography CAD SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.59", "Key Object Selection Document Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.65", "Chest CAD SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.67", "X-Ray Radiation Dose SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.68", "Radiopharmaceutical Radiation Dose SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.69", "Colon CAD SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.70", "Implantation Plan SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.71", "Acquisition Context SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.72", "Simplified Adult Echo SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.73", "Patient Radiation Dose SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.74", "Planned Imaging Agent Administration SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.75", "Performed Imaging Agent Administration SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.88.76", "Enhanced X-Ray Radiation Dose SR Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.90.1", "Content Assessment Results Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.91.1", "Microscopy Bulk Simple Annotations Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.104.1", "Encapsulated PDF Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.104.2", "Encapsulated CDA Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.104.3", "Encapsulated STL Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.104.4", "Encapsulated OBJ Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.104.5", "Encapsulated MTL Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.128", "Positron Emission Tomography Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.128.1", "Legacy Converted Enhanced PET Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.129", "Standalone PET Curve Storage (Retired)", retired},
	{"1.2.840.10008.5.1.4.1.1.130", "Enhanced PET Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.131", "Basic Structured Display Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.200.1", "CT Defined Procedure Protocol Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.200.2", "CT Performed Procedure Protocol Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.200.3", "Protocol Approval Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.481.1", "RT Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.481.2", "RT Dose Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.481.3", "RT Structure Set Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.481.4", "RT Beams Treatment Record Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.481.5", "RT Plan Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.481.6", "RT Brachy Treatment Record Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.481.7", "RT Treatment Summary Record Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.481.8", "RT Ion Plan Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.481.9", "RT Ion Beams Treatment Record Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.501.1", "DICOS CT Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.501.2.1", "DICOS Digital X-Ray Image Storage - For Presentation", pixelData},
	{"1.2.840.10008.5.1.4.1.1.501.2.2", "DICOS Digital X-Ray Image Storage - For Processing", pixelData},
	{"1.2.840.10008.5.1.4.1.1.501.3", "DICOS Threat Detection Report Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.501.4", "DICOS 2D AIT Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.501.5", "DICOS 3D AIT Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.501.6", "DICOS Quadrupole Resonance (QR) Storage", 0},
	{"1.2.840.10008.5.1.4.1.1.601.1", "Eddy Current Image Storage", pixelData},
	{"1.2.840.10008.5.1.4.1.1.601.2", "Eddy Current Multi-frame Image Storage", pixelData},
}

var storageByUID = byUID(storageClasses, func(c *sopClass) string { return c.uid })

// StorageSOPClasses returns every storage SOP class listed above, current
// and retired, in UID order.
func StorageSOPClasses() []string {
	return uids(storageClasses, func(c *sopClass) string { return c.uid })
}

// IsStorage reports whether uid is a storage SOP class of PS3.4 Annex B:
// listed above, or under StorageRoot (classes the standard adds later).
func IsStorage(uid string) bool {
	return storageByUID[uid] != nil || (strings.HasPrefix(uid, StorageRoot) && len(uid) > len(StorageRoot))
}

// HasPixelData reports whether instances of the storage SOP class uid hold
// an image. It is false for reports, documents, waveforms, presentation
// states, measurements and classes it does not know.
func HasPixelData(uid string) bool {
	c := storageByUID[uid]
	return c != nil && c.flags&pixelData != 0
}

// IsRetired reports whether uid is a retired storage SOP class.
func IsRetired(uid string) bool {
	c := storageByUID[uid]
	return c != nil && c.flags&retired != 0
}
