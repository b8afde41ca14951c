from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class ImportSizeLimitHandler(FileUploadHandler):
    """First in the chain: passes chunks on, and drops a file once it passes the size limit,
    so an oversized upload is never written out in full. The form reports `too_large`."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.IMPORT_MAX_UPLOAD_BYTES
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None
