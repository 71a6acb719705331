from synesthesia.data.sts import download_coco_captions, download_cxc_sts
from synesthesia.logs import log_to_file

log_to_file(snakemake.log[0])
download_cxc_sts(snakemake.output.sts)
download_coco_captions(snakemake.output.captions)
