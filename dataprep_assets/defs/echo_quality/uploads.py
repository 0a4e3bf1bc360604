"""New echo DICOM videos uploaded under `raw/echo_quality/raw_data/` become an upload batch; echo_quality follows it.

No suffix filter: Philips exports (IM_0001, ...) have no extension; the inventory decides by content (DICOM
preamble) and rejects what is not a video. (New inference *results* have their own sensor, in automation.py.)
"""

from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions
from dataprep_assets.defs.echo_quality.datasets import DICOM_PREFIX, GROUP

echo_quality_uploads, echo_quality_upload_sensor = upload_batch_definitions(
    UploadWatch(pipeline=GROUP, prefix=DICOM_PREFIX)  # every file: Philips exports have no extension
)
