"""Every reason code a check can give, and what it tells the driver, in Chinese and English.

The codes of CONTRACT.md come first; the others are hazgate's own. Each message says what is
wrong and what to do. Templates are ``str.format`` strings filled by ``Reason.of``.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    # CONTRACT.md codes.
    VEHICLE_UNKNOWN = "vehicle_unknown"
    VEHICLE_LICENSE_EXPIRED = "vehicle_license_expired"
    TRANSPORT_PERMIT_EXPIRED = "transport_permit_expired"
    DRIVER_MISSING = "driver_missing"
    ESCORT_MISSING = "escort_missing"
    QUALIFICATION_EXPIRED = "qualification_expired"
    QUALIFICATION_WRONG_CLASS = "qualification_wrong_class"
    ID_CARD_NOT_REGISTERED = "id_card_not_registered"
    FACE_MISMATCH = "face_mismatch"
    FACE_NOT_FOUND = "face_not_found"
    FACE_QUALITY = "face_quality"
    TANK_INSPECTION_EXPIRED = "tank_inspection_expired"
    VEHICLE_INSPECTION_EXPIRED = "vehicle_inspection_expired"
    WAYBILL_NOT_FOUND = "waybill_not_found"
    WAYBILL_EXPIRED = "waybill_expired"
    WAYBILL_VEHICLE_MISMATCH = "waybill_vehicle_mismatch"
    WAYBILL_PERSONNEL_MISMATCH = "waybill_personnel_mismatch"
    OVER_RATED_LOAD = "over_rated_load"
    MEDIUM_NOT_PERMITTED = "medium_not_permitted"
    # hazgate's own: inputs not arrived yet (status pending).
    PLATE_MISSING = "plate_missing"
    FACE_MISSING = "face_missing"
    WAYBILL_MISSING = "waybill_missing"
    WEIGHT_MISSING = "weight_missing"
    VEHICLE_STATUS_MISSING = "vehicle_status_missing"
    # hazgate's own: failures.
    CARRIER_UNKNOWN = "carrier_unknown"
    CARRIER_PERMIT_EXPIRED = "carrier_permit_expired"
    ESCORT_IS_DRIVER = "escort_is_driver"
    LIVENESS_FAILED = "liveness_failed"
    WAYBILL_NOT_YET_VALID = "waybill_not_yet_valid"
    CRITICAL_ALERT_OPEN = "critical_alert_open"
    GPS_SILENT = "gps_silent"
    # hazgate's own: an officer should look (status review).
    PLATE_LOW_CONFIDENCE = "plate_low_confidence"
    FACE_BORDERLINE = "face_borderline"
    ENROLLED_PHOTO_MISSING = "enrolled_photo_missing"
    ENROLLED_PHOTO_UNUSABLE = "enrolled_photo_unusable"  # review, or a notice (policy id_card_photo)
    ID_CARD_NAME_MISMATCH = "id_card_name_mismatch"
    WEIGHT_ABOVE_WAYBILL = "weight_above_waybill"
    WEIGHT_BELOW_TARE = "weight_below_tare"
    # hazgate's own: a notice on a check that passes.
    DOCUMENT_EXPIRING_SOON = "document_expiring_soon"
    # The stay (CONTRACT v1.1): blacklist and bookings at booking time and at the entry gate.
    BLACKLISTED = "blacklisted"
    BOOKING_MISSING = "booking_missing"
    # The stay: the exit gate.
    VISIT_NOT_FOUND = "visit_not_found"
    LOAD_ABOVE_WAYBILL = "load_above_waybill"
    WAYBILL_OPEN = "waybill_open"


_R = ReasonCode

# (Chinese, English) message templates. Chinese is what the kiosk shows first.
MESSAGES: dict[ReasonCode, tuple[str, str]] = {
    _R.VEHICLE_UNKNOWN: (
        "车辆{plate}未在园区备案，不能入园。请承运企业先为该车办理备案。",
        "Vehicle {plate} is not registered with the park and may not enter: the carrier must register it first.",
    ),
    _R.VEHICLE_LICENSE_EXPIRED: (
        "车辆{plate}的行驶证已于{expires}到期，请办理检验换证后再来。",
        "The vehicle licence of {plate} expired on {expires}: renew it before coming back.",
    ),
    _R.TRANSPORT_PERMIT_EXPIRED: (
        "道路运输证{number}已于{expires}到期，请到交通运输主管部门换证后再来。",
        "Road transport permit {number} expired on {expires}: renew it at the transport authority before coming back.",
    ),
    _R.DRIVER_MISSING: (
        "请驾驶员将身份证放到读卡器上。",
        "Driver: place your ID card on the card reader.",
    ),
    _R.ESCORT_MISSING: (
        "请押运员将身份证放到读卡器上。危险货物运输车辆必须有押运员随车。",
        "Escort: place your ID card on the card reader. A hazardous-goods vehicle must carry an escort.",
    ),
    _R.QUALIFICATION_EXPIRED: (
        "{role_zh}{name}的从业资格证{number}已于{expires}到期，请换证后再来。",
        "The qualification certificate {number} of the {role_en}, {name}, expired on {expires}: "
        "renew it before coming back.",
    ),
    _R.QUALIFICATION_WRONG_CLASS: (
        "{name}持有的是{held_zh}从业资格证，不能担任{role_zh}。请由持{role_zh}资格证的人员上岗。",
        "{name} is qualified as {held_en}, not as {role_en}, and may not act as {role_en}: "
        "a qualified {role_en} must take over.",
    ),
    _R.ID_CARD_NOT_REGISTERED: (
        "{role_zh}{name}（身份证{id_masked}）未在园区备案。请承运企业先办理人员备案。",
        "The {role_en}, {name} (ID {id_masked}), is not registered with the park: "
        "the carrier must register them first.",
    ),
    _R.FACE_MISMATCH: (
        "{role_zh}本人与{photo_zh}不符。请持证本人到场核验。",
        "The {role_en}'s face does not match the {photo_en}: the card holder must present themselves.",
    ),
    _R.FACE_NOT_FOUND: (
        "未检测到{role_zh}的人脸。请摘下帽子和口罩，正对摄像头重新拍照。",
        "No face of the {role_en} was found ({detail}): take off hat and mask and look straight at the camera.",
    ),
    _R.FACE_QUALITY: (
        "{role_zh}的人脸照片不清晰。请站稳，正对摄像头重新拍照。",
        "The {role_en}'s face photo is not clear enough ({detail}): stand still and look straight at the camera.",
    ),
    _R.TANK_INSPECTION_EXPIRED: (
        "罐体{tank_id}的定期检验已于{expires}到期，罐车不得装卸。请检验合格后再来。",
        "The periodic inspection of tank {tank_id} expired on {expires}; the tanker may not load or unload: "
        "have it inspected before coming back.",
    ),
    _R.VEHICLE_INSPECTION_EXPIRED: (
        "车辆{plate}的安全技术检验已于{expires}到期。请检验合格后再来。",
        "The safety inspection of vehicle {plate} expired on {expires}: have it inspected before coming back.",
    ),
    _R.WAYBILL_NOT_FOUND: (
        "查不到运单{waybill_no}。请确认扫描的是本次运输的电子运单，或联系承运企业上报运单。",
        "Waybill {waybill_no} was not found: check that you scanned this trip's electronic waybill, "
        "or ask the carrier to file it.",
    ),
    _R.WAYBILL_EXPIRED: (
        "运单{waybill_no}已于{valid_to}失效。请联系承运企业重新开具运单。",
        "Waybill {waybill_no} expired at {valid_to}: ask the carrier for a new waybill.",
    ),
    _R.WAYBILL_VEHICLE_MISMATCH: (
        "运单{waybill_no}登记的车辆是{waybill_plate}，不是本车{plate}。请出示本车的运单。",
        "Waybill {waybill_no} is for vehicle {waybill_plate}, not {plate}: show this vehicle's waybill.",
    ),
    _R.WAYBILL_PERSONNEL_MISMATCH: (
        "运单{waybill_no}登记的{role_zh}不是{name}（身份证{id_masked}）。"
        "请由运单上的{role_zh}随车，或联系承运企业更正运单。",
        "Waybill {waybill_no} names another {role_en} than {name} (ID {id_masked}): the {role_en} on the waybill "
        "must be on board, or the carrier must correct the waybill.",
    ),
    _R.OVER_RATED_LOAD: (
        "{what_zh}{load_kg:g}千克，超过车辆{plate}的核定载质量{rated_kg:g}千克。超载车辆不得入园。",
        "The {what_en} of {load_kg:g} kg is over the rated load of {plate}, {rated_kg:g} kg: "
        "an overloaded vehicle may not enter.",
    ),
    _R.MEDIUM_NOT_PERMITTED: (
        "罐体{tank_id}不准装运{un}（{cargo_name}），准装介质为{permitted}。不得入园装卸。",
        "Tank {tank_id} is not approved for {un} ({cargo_name}); it is approved for {permitted}: "
        "it may not load or unload here.",
    ),
    _R.PLATE_MISSING: (
        "正在识别车牌，请将车辆停在识别区内。",
        "Reading the plate: stop the vehicle inside the camera zone.",
    ),
    _R.FACE_MISSING: (
        "请{role_zh}正对人脸识别摄像头，等待比对结果。",
        "Look straight at the face camera, {role_en}, and wait for the comparison.",
    ),
    _R.WAYBILL_MISSING: (
        "请扫描本次运输的电子运单二维码。",
        "Scan the QR code of this trip's electronic waybill.",
    ),
    _R.WEIGHT_MISSING: (
        "请将车辆完全停在地磅上称重。",
        "Stop the whole vehicle on the weighbridge to be weighed.",
    ),
    _R.VEHICLE_STATUS_MISSING: (
        "正在查询车辆监控状态，请稍候。",
        "Looking up the vehicle's monitoring status: please wait.",
    ),
    _R.CARRIER_UNKNOWN: (
        "车辆所属承运企业{carrier_id}未在园区备案。请承运企业先办理备案。",
        "The vehicle's carrier {carrier_id} is not registered with the park: the carrier must register first.",
    ),
    _R.CARRIER_PERMIT_EXPIRED: (
        "承运企业{carrier}的道路危险货物运输经营许可证{number}已于{expires}到期。请联系承运企业。",
        "The hazardous-goods transport licence {number} of the carrier {carrier} expired on {expires}: "
        "contact your carrier.",
    ),
    _R.ESCORT_IS_DRIVER: (
        "押运员和驾驶员是同一人（{name}）。请由另一名持押运员资格证的人员随车押运。",
        "The escort and the driver are the same person ({name}): another person with an escort "
        "qualification must ride along.",
    ),
    _R.LIVENESS_FAILED: (
        "{role_zh}活体检测未通过。请本人正对摄像头重新拍照，不能使用照片或屏幕。",
        "The {role_en}'s liveness check failed: the person must face the camera themselves, not a photo or a screen.",
    ),
    _R.WAYBILL_NOT_YET_VALID: (
        "运单{waybill_no}自{valid_from}起生效，现在还不能凭此运单入园。",
        "Waybill {waybill_no} is valid from {valid_from}: it does not admit the vehicle yet.",
    ),
    _R.CRITICAL_ALERT_OPEN: (
        "车辆{plate}的监测设备{device_id}有未处理的严重报警（{metric}={value}，{started_at}起）。"
        "请联系园区安全管理人员处置后再入园。",
        "Device {device_id} of vehicle {plate} has an open critical alert ({metric}={value} since {started_at}): "
        "contact the park's safety officer to clear it before entering.",
    ),
    _R.GPS_SILENT: (
        "车辆{plate}的卫星定位装置{device_id}{silence_zh}。请检查定位装置，使其恢复在线后再入园。",
        "The GPS tracker {device_id} of vehicle {plate} {silence_en}: check the tracker and bring it back online "
        "before entering.",
    ),
    _R.PLATE_LOW_CONFIDENCE: (
        "车牌识别为{plate}，但把握不足（{confidence:.0%}）。请等待工作人员核对车牌。",
        "The plate was read as {plate} with only {confidence:.0%} confidence: wait for an officer to check it.",
    ),
    _R.FACE_BORDERLINE: (
        "{role_zh}与{photo_zh}的比对结果不能自动确认。请等待工作人员核验。",
        "The {role_en}'s face is too close to the limit against the {photo_en} to decide automatically: "
        "wait for an officer to check.",
    ),
    _R.ENROLLED_PHOTO_MISSING: (
        "{role_zh}{name}没有备案照片，本次仅与身份证照片比对。{next_zh}",
        "The {role_en}, {name}, has no enrolled photo; the face was compared with the ID card photo only. {next_en}",
    ),
    _R.ENROLLED_PHOTO_UNUSABLE: (
        "{role_zh}{name}的备案照片无法用于比对（{detail}），本次仅与身份证照片比对。{next_zh}",
        "The enrolled photo of the {role_en}, {name}, cannot be used ({detail}); the face was compared with the "
        "ID card photo only. {next_en}",
    ),
    _R.ID_CARD_NAME_MISMATCH: (
        "身份证上的姓名“{card_name}”与备案姓名“{registered_name}”不一致。请等待工作人员核验。",
        "The name on the ID card ({card_name}) differs from the registered name ({registered_name}): "
        "wait for an officer to check.",
    ),
    _R.WEIGHT_ABOVE_WAYBILL: (
        "过磅净重{net_kg:g}千克，比运单货物{quantity_kg:g}千克多{excess_kg:g}千克。请等待工作人员核实。",
        "The weighed net load of {net_kg:g} kg is {excess_kg:g} kg more than the waybill's {quantity_kg:g} kg: "
        "wait for an officer to check.",
    ),
    _R.WEIGHT_BELOW_TARE: (
        "过磅总重{gross_kg:g}千克低于车辆备案自重{tare_kg:g}千克。请等待工作人员核实地磅或车辆备案信息。",
        "The weighed gross of {gross_kg:g} kg is below the registered tare of {tare_kg:g} kg: "
        "wait for an officer to check the weighbridge or the vehicle record.",
    ),
    _R.DOCUMENT_EXPIRING_SOON: (
        "{doc_zh}将于{expires}到期（还有{days}天），请尽快办理。",
        "The {doc_en} expires on {expires} ({days} days left): arrange its renewal soon.",
    ),
    _R.BLACKLISTED: (
        "{subject_zh}{subject}已被列入园区黑名单（至{until_zh}），原因：{why}。不得预约或入园，请联系园区安全管理部门。",
        "The {subject_en} {subject} is on the park's blacklist until {until_en} ({why}): it may not book or enter. "
        "Contact the park's safety office.",
    ),
    _R.BOOKING_MISSING: (
        "车辆{plate}没有本时段已批准的入园预约。请承运企业预约入园，经批准后按预约时段前来。",
        "Vehicle {plate} has no approved booking for this time: the carrier must book entry and come within "
        "the approved slot.",
    ),
    _R.VISIT_NOT_FOUND: (
        "车辆{plate}没有在园记录，不能按出园放行。请联系值班人员核实。",
        "Vehicle {plate} has no record of being inside the park, so it cannot be let out: ask the duty officer "
        "to check.",
    ),
    _R.LOAD_ABOVE_WAYBILL: (
        "出园过磅净重{net_kg:g}千克，超过运单货物{quantity_kg:g}千克（允许误差{tolerance_kg:g}千克）。"
        "请卸下多装的货物，或由装货企业更正运单后再出园。",
        "The net load weighed at the exit, {net_kg:g} kg, is over the waybill's {quantity_kg:g} kg "
        "(tolerance {tolerance_kg:g} kg): unload the excess, or have the loading enterprise correct the waybill.",
    ),
    _R.WAYBILL_OPEN: (
        "运单{waybill_no}尚未闭合（装卸完成未确认）。请装卸企业确认装卸完成后再出园。",
        "Waybill {waybill_no} is not closed (loading or unloading not confirmed): the enterprise must confirm it "
        "before the vehicle leaves.",
    ),
}
