"""lib.dicom.new_dataset: the start of every DICOM file the sample data writes (CT slices, ultrasound clips); a file
saved from it reads back through the one header reader with its UIDs and transfer syntax."""

import numpy as np
import pydicom
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from dataprep_assets.lib.dicom import new_dataset, read_header


def test_a_new_dataset_saved_with_pixels_reads_back_with_its_uids(tmp_path):
    ds = new_dataset(CTImageStorage, "1.2.3.4", "1.2.3", "1.2.3.9")
    ds.Modality, ds.PatientID = "CT", "P-1"
    ds.Rows, ds.Columns = 4, 3
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = np.arange(12, dtype=np.int16).tobytes()
    path = tmp_path / "slice.dcm"
    ds.save_as(path, enforce_file_format=True)
    header = read_header(path)
    assert (header.sop_uid, header.study_uid, header.series_uid) == ("1.2.3.4", "1.2.3", "1.2.3.9")
    assert (header.patient_id, header.modality, header.rows, header.columns) == ("P-1", "CT", 4, 3)
    assert header.transfer_syntax == ExplicitVRLittleEndian and header.has_pixel_data
    read = pydicom.dcmread(path)
    assert read.file_meta.MediaStorageSOPClassUID == CTImageStorage == read.SOPClassUID
    assert read.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4"
